-- The dating site's legacy monolith as it lives in SQL Server (T-SQL). schema.postgres.sql holds
-- the same tables and columns for PostgreSQL, where the generator loads them (SQL Server cannot be
-- installed on the project's machines).
--
-- Every datetime column holds Europe/Helsinki wall-clock time (GETDATE() on the old server), without
-- a zone, in datetime's 1/300 s precision. Balance is money; Rating and Fine are decimal.
-- ExternalId is a uniqueidentifier (stored by SQL Server in its mixed-endian byte order).

IF SCHEMA_ID(N'dbo') IS NULL EXEC(N'CREATE SCHEMA [dbo]');
GO

CREATE TABLE [dbo].[Members] (
  [Id]           int IDENTITY(1,1) NOT NULL,
  [Nickname]     nvarchar(50) NOT NULL,
  [Email]        nvarchar(256) NULL,
  [Gender]       char(1) NULL,
  [BirthDate]    date NOT NULL,
  [City]         nvarchar(100) NULL,
  [RegisteredAt] datetime NOT NULL,
  [LastSeenAt]   datetime NULL,
  [DeletedAt]    datetime NULL,
  [Balance]      money NOT NULL,
  [Rating]       decimal(5,2) NULL,
  [ExternalId]   uniqueidentifier NULL,
  CONSTRAINT [PK_Members] PRIMARY KEY CLUSTERED ([Id])
);
GO

CREATE TABLE [dbo].[ProfileTexts] (
  [MemberId]  int NOT NULL,
  [Lang]      char(2) NOT NULL,
  [Body]      nvarchar(max) NOT NULL,
  [UpdatedAt] datetime NULL,
  CONSTRAINT [PK_ProfileTexts] PRIMARY KEY CLUSTERED ([MemberId], [Lang])
);
GO

CREATE TABLE [dbo].[Photos] (
  [Id]         int IDENTITY(1,1) NOT NULL,
  [MemberId]   int NOT NULL,
  [Url]        nvarchar(400) NOT NULL,
  [Width]      int NULL,
  [Height]     int NULL,
  [IsPrimary]  bit NOT NULL,
  [UploadedAt] datetime NOT NULL,
  [DeletedAt]  datetime NULL,
  CONSTRAINT [PK_Photos] PRIMARY KEY CLUSTERED ([Id])
);
GO

CREATE TABLE [dbo].[Messages] (
  [Id]                 bigint IDENTITY(1,1) NOT NULL,
  [SenderId]           int NOT NULL,
  [RecipientId]        int NOT NULL,
  [Body]               nvarchar(2000) NULL,
  [SentAt]             datetime NOT NULL,
  [ReadAt]             datetime NULL,
  [IsRead]             bit NOT NULL,
  [DeletedBySender]    bit NOT NULL,
  [DeletedByRecipient] bit NOT NULL,
  CONSTRAINT [PK_Messages] PRIMARY KEY CLUSTERED ([Id])
);
GO

CREATE TABLE [dbo].[Flirts] (
  [Id]     int IDENTITY(1,1) NOT NULL,
  [FromId] int NOT NULL,
  [ToId]   int NOT NULL,
  [Kind]   tinyint NOT NULL,
  [SentAt] datetime NOT NULL,
  CONSTRAINT [PK_Flirts] PRIMARY KEY CLUSTERED ([Id])
);
GO

CREATE TABLE [dbo].[Favorites] (
  [MemberId]   int NOT NULL,
  [FavoriteId] int NOT NULL,
  [AddedAt]    datetime NOT NULL,
  CONSTRAINT [PK_Favorites] PRIMARY KEY CLUSTERED ([MemberId], [FavoriteId])
);
GO

CREATE TABLE [dbo].[Blocks] (
  [BlockerId] int NOT NULL,
  [BlockedId] int NOT NULL,
  [BlockedAt] datetime NOT NULL,
  [Reason]    nvarchar(200) NULL,
  CONSTRAINT [PK_Blocks] PRIMARY KEY CLUSTERED ([BlockerId], [BlockedId])
);
GO

-- No foreign keys on purpose (a real wart): visits of members purged later are still here.
CREATE TABLE [dbo].[ProfileVisits] (
  [Id]        bigint IDENTITY(1,1) NOT NULL,
  [VisitorId] int NOT NULL,
  [VisitedId] int NOT NULL,
  [VisitedAt] datetime NOT NULL,
  CONSTRAINT [PK_ProfileVisits] PRIMARY KEY CLUSTERED ([Id])
);
GO

CREATE TABLE [dbo].[AbuseReports] (
  [Id]         int IDENTITY(1,1) NOT NULL,
  [ReporterId] int NOT NULL,
  [ReportedId] int NOT NULL,
  [Reason]     nvarchar(50) NOT NULL,
  [Details]    nvarchar(max) NULL,
  [ReportedAt] datetime NOT NULL,
  [HandledAt]  datetime NULL,
  [Fine]       decimal(10,2) NULL,
  CONSTRAINT [PK_AbuseReports] PRIMARY KEY CLUSTERED ([Id])
);
GO

-- @after-load

ALTER TABLE [dbo].[ProfileTexts] ADD CONSTRAINT [FK_ProfileTexts_Members] FOREIGN KEY ([MemberId]) REFERENCES [dbo].[Members] ([Id]);
ALTER TABLE [dbo].[Photos] ADD CONSTRAINT [FK_Photos_Members] FOREIGN KEY ([MemberId]) REFERENCES [dbo].[Members] ([Id]);
ALTER TABLE [dbo].[Messages] ADD CONSTRAINT [FK_Messages_Sender] FOREIGN KEY ([SenderId]) REFERENCES [dbo].[Members] ([Id]);
ALTER TABLE [dbo].[Messages] ADD CONSTRAINT [FK_Messages_Recipient] FOREIGN KEY ([RecipientId]) REFERENCES [dbo].[Members] ([Id]);
ALTER TABLE [dbo].[Flirts] ADD CONSTRAINT [FK_Flirts_From] FOREIGN KEY ([FromId]) REFERENCES [dbo].[Members] ([Id]);
ALTER TABLE [dbo].[Flirts] ADD CONSTRAINT [FK_Flirts_To] FOREIGN KEY ([ToId]) REFERENCES [dbo].[Members] ([Id]);
ALTER TABLE [dbo].[Favorites] ADD CONSTRAINT [FK_Favorites_Member] FOREIGN KEY ([MemberId]) REFERENCES [dbo].[Members] ([Id]);
ALTER TABLE [dbo].[Favorites] ADD CONSTRAINT [FK_Favorites_Favorite] FOREIGN KEY ([FavoriteId]) REFERENCES [dbo].[Members] ([Id]);
ALTER TABLE [dbo].[Blocks] ADD CONSTRAINT [FK_Blocks_Blocker] FOREIGN KEY ([BlockerId]) REFERENCES [dbo].[Members] ([Id]);
ALTER TABLE [dbo].[Blocks] ADD CONSTRAINT [FK_Blocks_Blocked] FOREIGN KEY ([BlockedId]) REFERENCES [dbo].[Members] ([Id]);
ALTER TABLE [dbo].[AbuseReports] ADD CONSTRAINT [FK_AbuseReports_Reporter] FOREIGN KEY ([ReporterId]) REFERENCES [dbo].[Members] ([Id]);
ALTER TABLE [dbo].[AbuseReports] ADD CONSTRAINT [FK_AbuseReports_Reported] FOREIGN KEY ([ReportedId]) REFERENCES [dbo].[Members] ([Id]);
GO

CREATE NONCLUSTERED INDEX [IX_Messages_Recipient] ON [dbo].[Messages] ([RecipientId], [SentAt]);
CREATE NONCLUSTERED INDEX [IX_Photos_Member] ON [dbo].[Photos] ([MemberId]);
GO
